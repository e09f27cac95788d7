# Installation layout and the Debian package (CPack DEB) of trailwarden.
#
#   cpack --config build/CPackConfig.cmake -B build/package    # -> trailwarden_<version>_<arch>.deb
#
# Two install components:
#   - the default one: the binary (CMakeLists.txt) and the documentation, relative to the
#     install prefix, so `cmake --install build --prefix /usr/local` installs just those;
#   - "system": files at fixed system paths (/etc/trailwarden, /etc/default, the systemd unit),
#     excluded from a plain `cmake --install` so that it never overwrites a configuration in
#     /etc; only the package installs them.
# scripts/package-check.sh builds, inspects, installs and purges the package (CI).

include(GNUInstallDirs)

set(TW_PKG_DIR ${CMAKE_CURRENT_SOURCE_DIR}/packaging)
set(TW_DOC_DIR ${CMAKE_INSTALL_DATADIR}/doc/trailwarden)

# Documentation: /usr/share/doc/trailwarden (the unit's Documentation= points here).
file(GLOB TW_DOCS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${TW_DOCS} DESTINATION ${TW_DOC_DIR})
# The synthetic sample CloudTrail files, to try the agent offline and through a live queue.
install(DIRECTORY samples/ DESTINATION ${TW_DOC_DIR}/examples)
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/LICENSE)
  install(FILES LICENSE DESTINATION ${TW_DOC_DIR})
endif()

# System files, package only. The configuration and the environment file are conffiles
# (packaging/deb/conffiles): dpkg keeps the administrator's edits on upgrade.
install(FILES conf/trailwarden.toml
  DESTINATION /etc/trailwarden
  COMPONENT system EXCLUDE_FROM_ALL)
# Secrets for the unit's EnvironmentFile=: read by systemd as root, so root-only.
install(FILES ${TW_PKG_DIR}/systemd/trailwarden.default
  DESTINATION /etc/default
  RENAME trailwarden
  PERMISSIONS OWNER_READ OWNER_WRITE
  COMPONENT system EXCLUDE_FROM_ALL)
install(FILES ${TW_PKG_DIR}/systemd/trailwarden.service
  DESTINATION /lib/systemd/system
  COMPONENT system EXCLUDE_FROM_ALL)
# Debian's copyright file (DEP-5, pointing at /usr/share/common-licenses/Apache-2.0).
install(FILES ${TW_PKG_DIR}/deb/copyright
  DESTINATION /usr/share/doc/trailwarden
  COMPONENT system EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME trailwarden)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "trailwarden project")
set(CPACK_PACKAGE_CONTACT "trailwarden maintainers <trailwarden@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "CloudTrail detections in the CloudWatch filter-pattern language, as OCSF alerts")
# One paragraph a line group; CPack indents every line and turns an empty one into " .".
string(CONCAT CPACK_PACKAGE_DESCRIPTION
  "trailwarden reads AWS CloudTrail log files from S3 as SQS notifications announce\n"
  "them, matches every record against rules written in the CloudWatch Logs\n"
  "filter-pattern language (the CIS AWS Foundations Benchmark's monitoring controls\n"
  "are built in), and sends each match as an OCSF Detection Finding to Kafka,\n"
  "Splunk HEC, syslog or a file.\n"
  "\n"
  "This package ships the agent, a hardened systemd unit (not enabled until it is\n"
  "configured), the configuration in /etc/trailwarden and the documentation.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# The binary, the documentation and the system files in one package.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Unspecified system)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)

set(CPACK_DEBIAN_PACKAGE_NAME trailwarden)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/trailwarden/trailwarden")
# Library dependencies are computed by dpkg-shlibdeps from the binary; these are the others:
# adduser for the maintainer scripts, ca-certificates for TLS to AWS and the SIEMs.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${TW_PKG_DIR}/deb/conffiles
  ${TW_PKG_DIR}/deb/postinst
  ${TW_PKG_DIR}/deb/prerm
  ${TW_PKG_DIR}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
