# The library as other programs see it: exported symbols of the static archive, the installed
# tree (relocatable pkg-config, find_package, C99 -pedantic-errors and C++ consumers), the
# version, and brine from several threads (scripts/test.sh also runs that one under TSan).
add_test(NAME abi_static_symbols
         COMMAND ${CMAKE_SOURCE_DIR}/scripts/check_symbols.sh $<TARGET_FILE:brine_archive>
                 ${CMAKE_SOURCE_DIR}/include/brine.h)
# Consumers are plain programs: an instrumented library would need the sanitizer's runtime.
if(NOT BRINE_SANITIZER)
  add_test(NAME abi_install
           COMMAND ${CMAKE_SOURCE_DIR}/tests/abi/check_install.sh ${CMAKE_BINARY_DIR}
                   ${CMAKE_SOURCE_DIR})
  set_tests_properties(abi_install PROPERTIES TIMEOUT 300)
endif()

# The tool and the shared library load their dependencies from the system only: no RPATH or
# RUNPATH (an empty or relative entry searches the current directory: a model folder's
# libz.so.1 would run inside brine).
add_test(NAME abi_no_run_path
         COMMAND sh -c "readelf -d \"$1\" \"$2\" | grep -E 'R(UN)?PATH' && exit 1; ldd \"$1\" >/dev/null"
                 sh $<TARGET_FILE:brine> $<TARGET_FILE:brine_shared>)

find_package(Threads REQUIRED)
add_executable(test_threads ${CMAKE_CURRENT_SOURCE_DIR}/c/test_threads.c)
target_link_libraries(test_threads PRIVATE brine_archive Threads::Threads)
# Pickles, compressed joblib files of many releases (zlib/gzip/bz2/xz/lz4), NumPy files, 7z
# (libarchive, loaded on first use).
file(GLOB BRINE_THREAD_INPUTS ${CMAKE_SOURCE_DIR}/samples/*.pkl ${CMAKE_SOURCE_DIR}/tests/data/*.npy
     ${CMAKE_SOURCE_DIR}/tests/data/joblib/*.pkl* ${CMAKE_SOURCE_DIR}/tests/data/joblib/*.gz
     ${CMAKE_SOURCE_DIR}/fuzz/corpus/sevenzip/tiny_store.7z
     ${CMAKE_SOURCE_DIR}/fuzz/corpus/sevenzip/z_plain.7z)
add_test(NAME abi_threads COMMAND test_threads ${BRINE_THREAD_INPUTS})
set_tests_properties(abi_threads PROPERTIES LABELS threads)

# libhdf5 and libarchive load on first use (src/core/lazylib.h): not linked, and a library that
# cannot load leaves its files unverified and every other file judged.
add_test(NAME abi_lazy_libraries
         COMMAND ${BRINE_VENV_PYTHON} -m pytest -q -p no:cacheprovider
                 ${CMAKE_CURRENT_SOURCE_DIR}/python/test_lazy_libraries.py)
set_tests_properties(abi_lazy_libraries PROPERTIES
  ENVIRONMENT "BRINE=$<TARGET_FILE:brine>;BRINE_SHARED=$<TARGET_FILE:brine_shared>;BRINE_LAZY_SONAMES=${BRINE_HDF5_SONAME}\\;${BRINE_LIBARCHIVE_SONAME};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 300)
