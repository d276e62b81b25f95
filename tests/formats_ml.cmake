# ML formats beyond pickle (issue 12 parts 3, 4, 6): GGUF, ONNX and TensorFlow SavedModel,
# each with fixtures written by the real library in the venv (tests/gen/gen_*.py) and compared
# with it on benign files.
foreach(fmt gguf onnx savedmodel)
  add_test(NAME py_${fmt}
           COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_${fmt}.py)
  set_tests_properties(py_${fmt} PROPERTIES
                       ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                       TIMEOUT 600)
endforeach()
