# install/export so a service can find_package(recsys) and link recsys::recsys.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
install(DIRECTORY include/recsys DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS recsys_headers recsys EXPORT recsysTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(RECSYS_BUILD_CLI)
  install(TARGETS recsys_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
set_target_properties(recsys_headers PROPERTIES EXPORT_NAME headers)
set_target_properties(recsys PROPERTIES EXPORT_NAME recsys)
install(EXPORT recsysTargets NAMESPACE recsys:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/recsys)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/recsysConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/recsysConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/recsys)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/recsysConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/recsysConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/recsysConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/recsys)
