# Lossless config and Hugging Face conventions (issue 10 parts 2-3): `brine convert` → safetensors
# + typed JSON config → python/brine/checkpoint.py rebuilds the original (venv: torch 2.x and
# safetensors; files from Debian's torch 1.13 too), differential against
# torch.load(weights_only=True) on the benign checkpoint corpus.
add_test(NAME py_config_roundtrip
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider -W ignore::UserWarning
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_config_roundtrip.py)
set_tests_properties(py_config_roundtrip PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 600)
add_test(NAME py_hf_convert
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider -W ignore::UserWarning
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_hf_convert.py)
set_tests_properties(py_hf_convert PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 600)
