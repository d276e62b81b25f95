# Zip and safetensors readers (issue 3, items 1 and 5): C unit tests on hand-built files, and
# Python tests that compare brine with zipfile and with an independent strict safetensors
# reader, and run the malformed corpora that tests/gen/gen_malformed_formats.py writes.
foreach(t test_zip test_safetensors zip_list)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/c/${t}.c)
  target_compile_options(${t} PRIVATE ${BRINE_WARNINGS})
  target_compile_definitions(${t} PRIVATE _GNU_SOURCE)
  target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${t} PRIVATE brine_static)
endforeach()
add_test(NAME formats_zip COMMAND test_zip)
add_test(NAME formats_safetensors COMMAND test_safetensors)
set_tests_properties(formats_zip formats_safetensors PROPERTIES TIMEOUT 300)

foreach(t zip_diff safetensors)
  add_test(NAME py_formats_${t}
           COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_${t}.py)
  set_tests_properties(py_formats_${t} PROPERTIES
    ENVIRONMENT "ZIP_LIST=$<TARGET_FILE:zip_list>;TEST_SAFETENSORS=$<TARGET_FILE:test_safetensors>;PYTHONDONTWRITEBYTECODE=1"
    TIMEOUT 900)
endforeach()
