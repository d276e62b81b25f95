# The brine tool's interface (cli/, src/report/, docs/brine.1): help texts list every option,
# usage errors exit 2, scan's exit codes and its four report formats, and every rule the
# scanner emits is documented. tests/cli/check_cli.py has the checks.
foreach(part help scan rules)
  add_test(NAME cli_${part}
           COMMAND ${BRINE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_cli.py
                   $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR} ${part})
  set_tests_properties(cli_${part} PROPERTIES LABELS cli TIMEOUT 300)
endforeach()
