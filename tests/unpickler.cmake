# The unpickler model (issue 7 item 2, issue 9 item 4): both CPython unpicklers and the
# amplification limits. unpickler_stats prints what the machine measures on a pickle stream.
add_executable(unpickler_stats ${CMAKE_CURRENT_SOURCE_DIR}/c/unpickler_stats.c)
target_compile_options(unpickler_stats PRIVATE ${BRINE_WARNINGS})
target_compile_definitions(unpickler_stats PRIVATE _GNU_SOURCE)
target_include_directories(unpickler_stats PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(unpickler_stats PRIVATE brine_static)
# Both real unpicklers (pickle.Unpickler and pickle._Unpickler, with recording find_class)
# against brine on a few thousand generated opcode sequences; hostile fixtures from
# tests/gen/gen_hostile_unpickler.py; the benign corpus measured against the limits.
foreach(t differential limits)
  add_test(NAME py_unpickler_${t}
           COMMAND ${BRINE_PYTHON} -m pytest -q -s -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_unpickler_${t}.py)
  set_tests_properties(py_unpickler_${t} PROPERTIES
                       ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;UNPICKLER_STATS=$<TARGET_FILE:unpickler_stats>;PYTHONDONTWRITEBYTECODE=1"
                       TIMEOUT 900)
endforeach()
