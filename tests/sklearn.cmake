# scikit-learn, XGBoost, LightGBM (issue 13). Profiles are generated tables
# (tools/gen_profiles.py → src/policy/profiles/); the per-release venvs /var/cache/brine/sk-*
# come from requirements-sklearn-*.txt (scripts/lib.sh brine_ensure_release_venvs).
foreach(t sklearn_profiles native_convert sklearn_compat)
  add_test(NAME py_${t}
           COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                   ${CMAKE_CURRENT_SOURCE_DIR}/python/test_${t}.py)
  set_tests_properties(py_${t} PROPERTIES
                       ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1;BRINE_VENV_PYTHON=${BRINE_VENV_PYTHON}"
                       TIMEOUT 900)
endforeach()
