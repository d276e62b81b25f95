# The brine tool's interface (cli/, src/report/, docs/brine.1): help texts list every option,
# usage errors exit 2, scan's exit codes and its four report formats, and every rule the
# scanner emits is documented. tests/cli/check_cli.py has the checks.
foreach(part help scan rules)
  add_test(NAME cli_${part}
           COMMAND ${BRINE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_cli.py
                   $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR} ${part})
  set_tests_properties(cli_${part} PROPERTIES LABELS cli TIMEOUT 300)
endforeach()

# The report writers when jansson's allocations fail one by one, and when the sink fails.
add_executable(report_alloc_fail ${CMAKE_CURRENT_SOURCE_DIR}/cli/report_alloc_fail.c)
target_compile_options(report_alloc_fail PRIVATE ${BRINE_WARNINGS})
target_link_libraries(report_alloc_fail PRIVATE brine_static)
add_test(NAME report_alloc_fail COMMAND report_alloc_fail)
set_tests_properties(report_alloc_fail PROPERTIES LABELS cli TIMEOUT 900)

# docs/contract.md's ```console examples are brine's real output on samples/ (rewritten with
# tests/cli/contract_examples.py BRINE SOURCE_DIR --write).
add_test(NAME contract_examples
         COMMAND ${BRINE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/contract_examples.py
                 $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR})
set_tests_properties(contract_examples PROPERTIES LABELS cli TIMEOUT 300)
