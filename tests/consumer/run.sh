#!/usr/bin/env bash
# Uses an installed mmsb from outside its build, as a new user would: ROOT is an install
# prefix (cmake --install --prefix ROOT) or, with --deb FILE, the .deb is unpacked under
# a temporary ROOT (its files under ROOT/usr). Checks that every installed header compiles
# alone, that a find_package project and a pkg-config build link and run, that a C program
# links to the C ABI's libmmsb.so and runs, and that the installed program reports its version.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ "$1" = "--deb" ]; then
  dpkg-deb -x "$2" "$work/root"
  prefix="$work/root/usr"
  echo "consumer: $(basename "$2"): $(dpkg-deb -f "$2" Package Version Depends | tr '\n' ' ')"
else
  prefix="$(cd "$1" && pwd)"
fi
cxx="${CXX:-c++}"

for header in "$prefix"/include/mmsb/*.hpp; do
  printf '#include "mmsb/%s"\n' "$(basename "$header")" >"$work/alone.cpp"
  "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I "$prefix/include" "$work/alone.cpp" ||
    { echo "consumer: $(basename "$header") does not compile on its own"; exit 1; }
done
echo "consumer: $(ls "$prefix"/include/mmsb/*.hpp | wc -l) installed headers compile on their own"

cmake -S "$here/cmake" -B "$work/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/cmake-build" >>"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
echo "consumer (find_package): $("$work/cmake-build/consumer")"

flags="$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs mmsb)"
# shellcheck disable=SC2086
"$cxx" "$here/main.cpp" $flags -o "$work/pkg-consumer"
echo "consumer (pkg-config): $("$work/pkg-consumer")"

# The C ABI: mmsb.h alone as C11, and a C program linked to libmmsb.so through mmsb-c.pc.
cc="${CC:-cc}"
printf '#include "mmsb/mmsb.h"\n' >"$work/alone.c"
"$cc" -std=c11 -fsyntax-only -Wall -Wextra -Werror -I "$prefix/include" "$work/alone.c"
flags="$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs mmsb-c)"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror "$here/main.c" $flags -Wl,-rpath,"$prefix/lib" -o "$work/c-consumer"
echo "consumer (C, pkg-config mmsb-c): $("$work/c-consumer" "$work/c-data")"

"$prefix/bin/mmsb" version | head -1 | grep -q "^mmsb [0-9]*\.[0-9]*\.[0-9]*$"
echo "consumer: the installed program says '$("$prefix/bin/mmsb" version | head -1)'"
