# Decompression filters (issue 8 item 4): a C unit test, a decode tool for the differential
# test against Python's gzip/zlib/bz2/lzma modules, lz4.frame, zstandard and joblib's readers,
# over fixtures that tests/gen/gen_filters.py writes with those libraries.
foreach(t test_filters flt_decode)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/c/${t}.c)
  target_compile_options(${t} PRIVATE ${BRINE_WARNINGS})
  target_compile_definitions(${t} PRIVATE _GNU_SOURCE)
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${t} PRIVATE brine_static)
endforeach()
add_test(NAME filters_unit COMMAND test_filters)
set_tests_properties(filters_unit PROPERTIES LABELS "filters" TIMEOUT 300)

# Debian's python3 (python3-lz4, python3-zstandard) and the venv (current joblib, lz4)
add_test(NAME py_filters_debian
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_filters.py)
add_test(NAME py_filters_venv
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_filters.py)
set_tests_properties(py_filters_debian py_filters_venv PROPERTIES
  LABELS "filters"
  ENVIRONMENT "FLT_DECODE=$<TARGET_FILE:flt_decode>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 900)
