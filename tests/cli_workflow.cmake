
# .pre-commit-hooks.yaml with the real pre-commit (offline, a temporary git repository) and
# action.yml: its run: lines are README's commands; its scan and final steps run here (the
# build step too with BRINE_TEST_ACTION_BUILD=1). Both need the venv (pre-commit, PyYAML).
foreach(part precommit action)
  add_test(NAME cli_workflow_${part}
           COMMAND ${BRINE_VENV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_workflow.py
                   $<TARGET_FILE:brine> ${CMAKE_SOURCE_DIR} ${part})
  set_tests_properties(cli_workflow_${part} PROPERTIES LABELS cli TIMEOUT 900)
endforeach()
