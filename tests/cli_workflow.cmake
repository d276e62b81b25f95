# brine in CI workflows (cli/scan.c, src/report/sarif.c, .pre-commit-hooks.yaml, action.yml):
# SARIF as GitHub code scanning reads it, validated against the committed 2.1.0 schema with
# the venv's jsonschema.
add_test(NAME cli_sarif_schema
         COMMAND ${BRINE_VENV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_sarif.py
                 $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_sarif_schema PROPERTIES LABELS cli TIMEOUT 300)
