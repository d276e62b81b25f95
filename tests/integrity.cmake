# Nothing lost, nothing misreported (issue 9): convert never overwrites its input or other
# output, temporaries vanish on SIGINT/SIGTERM/SIGHUP (a ~1 GiB conversion interrupted at
# several points), every command refuses special files without blocking, and every command's
# exit codes follow docs/contract.md. Fixtures: tests/gen/gen_integrity.py (torch 1.13).
foreach(t convert special_files exit_codes findings signals)
  add_test(NAME integrity_${t}
           COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_integrity_${t}.py)
  set_tests_properties(integrity_${t} PROPERTIES
                       ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                       LABELS integrity TIMEOUT 600)
endforeach()

# Commit over an existing path, with and without fsync (core/atomic.c)
add_executable(test_atomic ${CMAKE_CURRENT_SOURCE_DIR}/c/test_atomic.c)
target_compile_options(test_atomic PRIVATE ${BRINE_WARNINGS})
target_compile_definitions(test_atomic PRIVATE _GNU_SOURCE)
target_include_directories(test_atomic PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_atomic PRIVATE brine_static)
add_test(NAME integrity_atomic COMMAND test_atomic)
set_tests_properties(integrity_atomic PROPERTIES LABELS integrity TIMEOUT 60)
