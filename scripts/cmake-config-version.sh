# Sourced by scripts/install.sh and scripts/build-platforms.sh: writes CMake's package version file for dinof.
# Compatible: same major version (same minor while the major is 0), not older than requested, 64-bit only.
#   write_cmake_config_version FILE VERSION ABI
write_cmake_config_version() {
    local file="$1" version="$2" abi="$3"
    cat >"$file" <<CMAKE
set(PACKAGE_VERSION "$version")
set(DINOF_ABI_VERSION $abi)
CMAKE
    cat >>"$file" <<'CMAKE'
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _have "${PACKAGE_VERSION}")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION OR NOT "${PACKAGE_FIND_VERSION_MAJOR}" STREQUAL "${CMAKE_MATCH_1}"
   OR (CMAKE_MATCH_1 STREQUAL "0" AND NOT "${PACKAGE_FIND_VERSION_MINOR}" STREQUAL "" AND NOT PACKAGE_FIND_VERSION_MINOR STREQUAL CMAKE_MATCH_2))
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
    if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
        set(PACKAGE_VERSION_EXACT TRUE)
    endif()
endif()
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "8" AND NOT CMAKE_SIZEOF_VOID_P STREQUAL "")
    set(PACKAGE_VERSION "${PACKAGE_VERSION} (64-bit)")
    set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
CMAKE
}
