# brine in CI workflows (cli/scan.c, src/report/sarif.c, .pre-commit-hooks.yaml, action.yml):
# SARIF as GitHub code scanning reads it, validated against the committed 2.1.0 schema with
# the venv's jsonschema.
add_test(NAME cli_sarif_schema
         COMMAND ${BRINE_VENV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_sarif.py
                 $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_sarif_schema PROPERTIES LABELS cli TIMEOUT 300)

# scan --include/--exclude, '-' (stdin), -o FILE, and -j N against -j 1 byte for byte on the
# tests/gen fixtures (hostile, malformed, archives) plus special files.
foreach(part filters stdin output jobs)
  add_test(NAME cli_workflow_${part}
           COMMAND ${BRINE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_workflow.py
                   $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR} ${part})
  set_tests_properties(cli_workflow_${part} PROPERTIES LABELS cli TIMEOUT 600)
endforeach()

# .pre-commit-hooks.yaml with the real pre-commit (offline, a temporary git repository) and
# action.yml: its run: lines are README's commands; its scan and final steps run here (the
# build step too with BRINE_TEST_ACTION_BUILD=1). Both need the venv (pre-commit, PyYAML).
foreach(part precommit action)
  add_test(NAME cli_workflow_${part}
           COMMAND ${BRINE_VENV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_workflow.py
                   $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR} ${part})
  set_tests_properties(cli_workflow_${part} PROPERTIES LABELS cli TIMEOUT 900)
endforeach()
