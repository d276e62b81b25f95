# The Python package (issue 10): python/brine over the build's libbrine.so and tool, with the
# venv's torch 2.x, safetensors, numpy and distributed; the state-dict differential also under
# Debian's torch 1.13. pkg_install builds the wheel with scikit-build-core and installs it into
# a fresh venv (slow the first time: the CMake build is cached in the build tree).
# Not in sanitizer builds: an instrumented libbrine.so cannot be loaded into an uninstrumented
# Python (the C library itself is exercised there by every other test).
if(BRINE_SANITIZER)
  return()
endif()
set(BRINE_PKG_ENV "BRINE_LIBRARY=$<TARGET_FILE:brine_shared>;BRINE_CLI=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1;KERAS_BACKEND=torch")
foreach(t api state_dict dask)
  add_test(NAME py_pkg_${t}
           COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_pkg_${t}.py)
  set_tests_properties(py_pkg_${t} PROPERTIES ENVIRONMENT "${BRINE_PKG_ENV}" TIMEOUT 900)
endforeach()
add_test(NAME py_pkg_state_dict_torch113
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_pkg_state_dict.py)
set_tests_properties(py_pkg_state_dict_torch113 PROPERTIES ENVIRONMENT "${BRINE_PKG_ENV}"
                     TIMEOUT 900)
add_test(NAME py_pkg_install
         COMMAND ${BRINE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/pkg_install.py
                 ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/pkg_install)
set_tests_properties(py_pkg_install PROPERTIES TIMEOUT 1800 RUN_SERIAL TRUE
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
