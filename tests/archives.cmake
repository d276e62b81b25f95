# Archives (issue 8, items 2 and 7): the tar reader that reads as CPython's tarfile
# (src/formats/tar.c) and 7z through libarchive. A listing program for the differential tests
# against tarfile, and C unit tests.
foreach(t tar_list sz_list test_tar)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/c/${t}.c)
  target_compile_options(${t} PRIVATE ${BRINE_WARNINGS})
  target_compile_definitions(${t} PRIVATE _GNU_SOURCE)
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${t} PRIVATE brine_static)
endforeach()
target_link_libraries(sz_list PRIVATE OpenSSL::Crypto) # its own SHA-256, the oracle
add_test(NAME archives_tar COMMAND test_tar)
add_test(NAME py_archives_tar_diff
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_tar_diff.py)
set_tests_properties(py_archives_tar_diff PROPERTIES
  ENVIRONMENT "TAR_LIST=$<TARGET_FILE:tar_list>;PYTHONDONTWRITEBYTECODE=1;PYTHONUTF8=1"
  TIMEOUT 900)
add_test(NAME py_archives_sevenzip
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_sevenzip.py)
set_tests_properties(py_archives_sevenzip PROPERTIES
  ENVIRONMENT "SZ_LIST=$<TARGET_FILE:sz_list>;PYTHONDONTWRITEBYTECODE=1;PYTHONUTF8=1"
  TIMEOUT 600)
add_test(NAME py_archives_tar_scan
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_tar_scan.py)
set_tests_properties(py_archives_tar_scan PROPERTIES
  ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1;PYTHONUTF8=1"
  TIMEOUT 600)
