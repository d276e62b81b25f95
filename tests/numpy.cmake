# NumPy .npy/.npz reader (issue 8 item 5): C unit tests on hand-made headers, and Python
# tests that generate fixtures with real numpy (Debian's 1.24 and the venv's 2.x) and compare
# brine's reading with np.load(allow_pickle=False), never loading an object array.
add_executable(test_npy ${CMAKE_CURRENT_SOURCE_DIR}/c/test_npy.c)
target_compile_options(test_npy PRIVATE ${BRINE_WARNINGS})
target_compile_definitions(test_npy PRIVATE _GNU_SOURCE)
target_include_directories(test_npy PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_npy PRIVATE brine_static OpenSSL::Crypto) # its own SHA-256
add_test(NAME npy_unit COMMAND test_npy)

foreach(py debian venv)
  if(py STREQUAL "debian")
    set(interp ${BRINE_PYTHON})
  else()
    set(interp ${BRINE_VENV_PYTHON})
  endif()
  add_test(NAME py_npy_${py}
           COMMAND ${interp} -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_npy.py)
  set_tests_properties(py_npy_${py} PROPERTIES
    ENVIRONMENT "TEST_NPY=$<TARGET_FILE:test_npy>;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 600)
endforeach()

# scan and inspect of .npy/.npz through the format model, with both numpy generations.
add_test(NAME py_npy_scan_debian
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_npy_scan.py)
add_test(NAME py_npy_scan_venv
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_npy_scan.py)
set_tests_properties(py_npy_scan_debian py_npy_scan_venv PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 600)
