# What `cmake --install` puts where, the CMake package config and pkg-config file of the
# library, and the Debian package (`make package`, CPack). README "Use mmsb in your project".
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# libmmsb.a is the C++ library, libmmsb.so.0 the C ABI (mmsb.h): `-lmmsb` finds the C one,
# so the C++ pkg-config file names the archive (-l:libmmsb.a).
install(TARGETS mmsb mmsb_c EXPORT mmsbTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
# The public headers only (src/ holds the internal ones), and the generated version.hpp.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/mmsb DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.h")
install(FILES ${MMSB_GENERATED_INCLUDE}/mmsb/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mmsb)
install(EXPORT mmsbTargets NAMESPACE mmsb:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mmsb)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mmsbConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/mmsbConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mmsb)
# 0.x: a minor version may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mmsbConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/mmsbConfig.cmake ${PROJECT_BINARY_DIR}/mmsbConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mmsb)
configure_file(${PROJECT_SOURCE_DIR}/cmake/mmsb.pc.in ${PROJECT_BINARY_DIR}/mmsb.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/mmsb-c.pc.in ${PROJECT_BINARY_DIR}/mmsb-c.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/mmsb.pc ${PROJECT_BINARY_DIR}/mmsb-c.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
              ${PROJECT_SOURCE_DIR}/docs/ARCHITECTURE.md ${PROJECT_SOURCE_DIR}/docs/FORMAT.md
              ${PROJECT_SOURCE_DIR}/docs/SEMANTICS.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.cpp" PATTERN "*.hpp" PATTERN "*.py")

# The Debian package: library, headers, program. The program's shared libraries come from
# dpkg-shlibdeps; linking the static library needs the -dev packages of its dependencies.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mmsb)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "mmsb: a deterministic, versioned state engine (C++20)")
set(CPACK_PACKAGE_CONTACT "mmsb developers <mmsb@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libxxhash-dev, libsodium-dev, liburing-dev, pkg-config")
include(CPack)
