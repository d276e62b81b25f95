# The committed opcode table must equal what pickletools.opcodes says today.
add_test(NAME opcode_table_matches_pickletools
         COMMAND ${BRINE_PYTHON} ${CMAKE_SOURCE_DIR}/tools/gen_opcodes.py --check
                 ${CMAKE_SOURCE_DIR}/src/pickle/opcodes.def)
add_test(NAME compat_table_matches_compat_pickle
         COMMAND ${BRINE_PYTHON} ${CMAKE_SOURCE_DIR}/tools/gen_compat.py --check
                 ${CMAKE_SOURCE_DIR}/src/pickle/compat.def)
