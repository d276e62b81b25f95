# Hardening tests (issue 4): allocation-failure injection, systematic malformed inputs, the
# exported-symbol and banned-function checks, the fuzz corpus generator, and valgrind runs of
# the CLI where no sanitizer is built in. The fuzz targets' corpus replays are registered by
# fuzz/CMakeLists.txt. Everything here carries the label "hardening".

# Allocation-failure injection. ld --wrap routes brine's direct malloc/calloc/realloc/strdup
# calls through the test's injector (mem_fail_after covers the budgeted allocator).
add_executable(test_alloc_fail ${CMAKE_CURRENT_SOURCE_DIR}/c/test_alloc_fail.c)
target_compile_options(test_alloc_fail PRIVATE ${BRINE_WARNINGS})
target_compile_definitions(test_alloc_fail PRIVATE _GNU_SOURCE)
target_include_directories(test_alloc_fail PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_alloc_fail PRIVATE brine_static)
target_link_options(test_alloc_fail PRIVATE
  -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=strndup)
set(BRINE_ALLOC_FAIL_INPUTS)
foreach(f samples/seed_exploit.pkl samples/benign_model.pkl samples/state_dict_raw.pkl
          fuzz/corpus/pickle/hostile_nested_load_from_bytes.pkl
          fuzz/corpus/pickle/hostile_frame_straddle.pkl
          fuzz/corpus/pickle/limit_billion_laughs.pkl
          fuzz/corpus/pickle/sklearn_logreg_p4.pkl
          fuzz/corpus/pickle/np_structured_p5.pkl
          fuzz/corpus/zip/torch_views.zip
          fuzz/corpus/zip/torchscript_linear.zip
          fuzz/corpus/zip/local_name_mismatch.zip
          fuzz/corpus/safetensors/valid_mix.safetensors
          fuzz/corpus/other/legacy_state_dict
          fuzz/corpus/other/joblib_raw
          fuzz/corpus/other/joblib_zlib
          fuzz/corpus/other/npy_object)
  if(EXISTS ${CMAKE_SOURCE_DIR}/${f})
    list(APPEND BRINE_ALLOC_FAIL_INPUTS ${CMAKE_SOURCE_DIR}/${f})
  endif()
endforeach()
add_test(NAME hardening_alloc_fail COMMAND test_alloc_fail ${BRINE_ALLOC_FAIL_INPUTS})
set_tests_properties(hardening_alloc_fail PROPERTIES LABELS hardening TIMEOUT 1200)

# Every fixture truncated, bit-flipped and with inflated length fields: no crash, no hang.
add_test(NAME hardening_mutations
         COMMAND ${BRINE_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_mutations.py)
set_tests_properties(hardening_mutations PROPERTIES
                     ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;PYTHONDONTWRITEBYTECODE=1"
                     LABELS hardening TIMEOUT 1800)

# The shared library exports brine_* only, and everything brine.h declares.
add_test(NAME hardening_exported_symbols
         COMMAND ${CMAKE_SOURCE_DIR}/scripts/check_symbols.sh $<TARGET_FILE:brine_shared>
                 ${CMAKE_SOURCE_DIR}/include/brine.h)
set_tests_properties(hardening_exported_symbols PROPERTIES LABELS hardening)

# No sprintf, strcpy, atoi, … in the library.
add_test(NAME hardening_banned_functions
         COMMAND ${CMAKE_SOURCE_DIR}/scripts/check_banned.sh ${CMAKE_SOURCE_DIR}/src)
set_tests_properties(hardening_banned_functions PROPERTIES LABELS hardening)

# The committed seed corpora are what fuzz/make_corpus.py writes (same set of files).
add_test(NAME hardening_fuzz_corpus_current
         COMMAND ${BRINE_PYTHON} ${CMAKE_SOURCE_DIR}/fuzz/make_corpus.py --check)
set_tests_properties(hardening_fuzz_corpus_current PROPERTIES LABELS hardening)

# valgrind where the sanitizers are not built in: uninitialised reads and leaks in the CLI on
# a malicious, a benign and a zip input, and in the allocation-failure test's first inputs.
find_program(BRINE_VALGRIND valgrind)
if(BRINE_VALGRIND AND NOT BRINE_SANITIZER AND NOT BRINE_BUILD_FUZZERS)
  set(vg ${CMAKE_SOURCE_DIR}/scripts/valgrind_run.sh)
  add_test(NAME hardening_valgrind_scan
           COMMAND ${vg} $<TARGET_FILE:brine> scan --format json
                   ${CMAKE_SOURCE_DIR}/samples/seed_exploit.pkl
                   ${CMAKE_SOURCE_DIR}/samples/benign_model.pkl
                   ${CMAKE_SOURCE_DIR}/fuzz/corpus/zip/torch_views.zip
                   ${CMAKE_SOURCE_DIR}/fuzz/corpus/zip/local_name_mismatch.zip
                   ${CMAKE_SOURCE_DIR}/fuzz/corpus/safetensors/valid_mix.safetensors
                   ${CMAKE_SOURCE_DIR}/fuzz/corpus/other/legacy_state_dict
                   ${CMAKE_SOURCE_DIR}/fuzz/corpus/pickle/limit_billion_laughs.pkl)
  add_test(NAME hardening_valgrind_dis
           COMMAND ${vg} $<TARGET_FILE:brine> dis --format json
                   ${CMAKE_SOURCE_DIR}/fuzz/corpus/pickle/hostile_build_poison_module.pkl)
  set_tests_properties(hardening_valgrind_scan hardening_valgrind_dis PROPERTIES
                       LABELS hardening TIMEOUT 600)
endif()
