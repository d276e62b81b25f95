# Scan work linear in the file (issue 7 item 5): the seeded hash map (C unit tests, and its
# SipHash against CPython's), work floods from tests/gen/gen_hostile_linear.py judged once and
# bounded by max_work, and checkpoints with thousands of tensors checked against torch.
# Behaviour only: the timings live in bench/linear_scan.py.
add_executable(test_linear ${CMAKE_CURRENT_SOURCE_DIR}/c/test_linear.c)
target_compile_options(test_linear PRIVATE ${BRINE_WARNINGS})
target_compile_definitions(test_linear PRIVATE _GNU_SOURCE)
target_include_directories(test_linear PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_linear PRIVATE brine_static)
add_test(NAME linear_hashmap COMMAND test_linear)
set_tests_properties(linear_hashmap PROPERTIES TIMEOUT 300)

add_test(NAME py_linear
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_linear.py)
set_tests_properties(py_linear PROPERTIES
  ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;TEST_LINEAR=$<TARGET_FILE:test_linear>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 900)
