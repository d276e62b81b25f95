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

# Allocation-failure injection (test_alloc_fail, tests/hardening.cmake) over the new readers.
set(BRINE_ML_ALLOC_INPUTS)
foreach(f gguf/y_floats.gguf gguf/y_q8_0.gguf gguf/n_template_concat.gguf
          onnx/y_raw__model.onnx onnx/y_typed__model.onnx onnx/u_custom_domain__model.onnx
          savedmodel/n_PyFunc_in_function__saved_model.pb
          savedmodel/n_keras_metadata_lambda_escaped__keras_metadata.pb)
  list(APPEND BRINE_ML_ALLOC_INPUTS ${CMAKE_SOURCE_DIR}/fuzz/corpus/${f})
endforeach()
add_test(NAME formats_ml_alloc_fail COMMAND test_alloc_fail ${BRINE_ML_ALLOC_INPUTS})
set_tests_properties(formats_ml_alloc_fail PROPERTIES LABELS hardening TIMEOUT 600)
