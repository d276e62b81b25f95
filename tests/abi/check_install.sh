#!/usr/bin/env bash
# check_install.sh BUILD SRC — what a program built on an installed brine sees: installs BUILD
# into a temporary prefix, moves the tree elsewhere (pkg-config must follow: relocatable), then
# builds tests/c/api_header.c as strict C99 and as C++ against the shared and the static library
# via pkg-config and via find_package(brine), links the static archive beside a program that
# defines brine's internal names itself (no clash), and runs every program.
set -euo pipefail
build=$(realpath "${1:?usage: check_install.sh BUILD SRC}")
src=$(realpath "${2:?usage: check_install.sh BUILD SRC}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
cxx=${CXX:-c++}

cmake --install "$build" --prefix "$tmp/staged" >/dev/null
mv "$tmp/staged" "$tmp/moved"
prefix=$tmp/moved
pc=$(find "$prefix" -name brine.pc)
libdir=$(dirname "$(dirname "$pc")")
export PKG_CONFIG_PATH=$(dirname "$pc")
inc=$(pkg-config --variable=includedir brine)
[ "$(realpath "$inc")" = "$prefix/include" ] || {
    echo "pkg-config includedir $inc is not in the moved prefix $prefix"
    exit 1
}
test -f "$inc/brine.h" && test -f "$inc/brine_version.h"
"$src/scripts/check_symbols.sh" "$libdir/libbrine.a" "$inc/brine.h"

prog=$src/tests/c/api_header.c
# shellcheck disable=SC2046
"$cc" -std=c99 -pedantic-errors -Wall -Wextra -Werror -o "$tmp/c99_shared" "$prog" \
    $(pkg-config --cflags --libs brine) -Wl,-rpath,"$libdir"
# shellcheck disable=SC2046
"$cxx" -x c++ -std=c++11 -pedantic-errors -Wall -Wextra -Werror -o "$tmp/cxx_shared" "$prog" \
    $(pkg-config --cflags --libs brine) -Wl,-rpath,"$libdir"
# The archive with its dependencies' shared libraries (a fully static program would need their
# static archives too: pkg-config --static).
static_deps="$(pkg-config --libs zlib jansson liblzma liblz4 libzstd libarchive hdf5) -lbz2 -lm"
# A program with its own zip_open, fmt_registry, ...: brine's internal names must not clash.
cat >"$tmp/clash.c" <<'C'
int zip_open(void);
int zip_open(void) { return 0; }
int drv_run(void);
int drv_run(void) { return zip_open(); }
C
# shellcheck disable=SC2086
"$cc" -std=c99 -pedantic-errors -Wall -Werror -o "$tmp/c99_static" "$prog" "$tmp/clash.c" \
    -I"$inc" "$libdir/libbrine.a" $static_deps
for p in c99_shared cxx_shared c99_static; do
    "$tmp/$p"
done

mkdir "$tmp/consumer"
cat >"$tmp/consumer/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.20)
project(consumer C CXX)
find_package(brine 0.1 CONFIG REQUIRED)
add_executable(with_shared $prog)
target_link_libraries(with_shared PRIVATE brine::brine)
add_executable(with_static $prog)
target_link_libraries(with_static PRIVATE brine::brine_static)
add_executable(with_cxx $tmp/consumer/api_header.cpp)
target_link_libraries(with_cxx PRIVATE brine::brine)
CMAKE
cp "$prog" "$tmp/consumer/api_header.cpp"
cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/consumer/build" >/dev/null
for p in with_shared with_static with_cxx; do
    "$tmp/consumer/build/$p"
done
echo "installed tree relocated; pkg-config, find_package(brine), C99, C++ and the static archive all work"
