# The pickle machine's 32-byte node (issue 11 item 3): offsets in the node and in the side
# table, args, kwargs and BUILD state read back through the accessors.
add_executable(test_pk_nodes ${CMAKE_CURRENT_SOURCE_DIR}/c/test_pk_nodes.c)
target_compile_options(test_pk_nodes PRIVATE ${BRINE_WARNINGS})
target_compile_definitions(test_pk_nodes PRIVATE _GNU_SOURCE)
target_include_directories(test_pk_nodes PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(test_pk_nodes PRIVATE brine_static)
add_test(NAME pickle_nodes COMMAND test_pk_nodes)
