# What `cmake --install` puts where, and the Debian package CPack makes of it (cpack -G DEB,
# or scripts/package). The package installs with prefix /usr:
#   /usr/bin/meshbroker                      the daemon and CLI
#   /lib/systemd/system/meshbroker.service   the unit (not enabled by the package)
#   /etc/meshbroker/                         empty; the admin writes meshbroker.json here
#   /usr/share/meshbroker/templates/         the mustache templates, for reference (embedded)
#   /usr/share/doc/meshbroker/               README.md, docs/, examples/ (the seed configs)
# Nothing under /etc is a file, so the package has no conffiles (CPack would not mark them
# by itself: a file there would need a conffiles list in CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA).

set(MESHBROKER_SYSTEMD_UNIT_DIR "" CACHE PATH
    "Absolute folder for the systemd unit (empty: /lib/systemd/system for prefix /usr, else <prefix>/lib/systemd/system)")
set(MESHBROKER_DEB_MAINTAINER
    "Seed 2dccbca4 maintainers <maintainers@users.noreply.r-seed-2dccbca4.example>"
    CACHE STRING "Maintainer field of the Debian package")

# The unit and /etc/meshbroker: placed at install time (see the script).
configure_file(${CMAKE_CURRENT_LIST_DIR}/InstallSystemLayout.cmake.in
               ${PROJECT_BINARY_DIR}/InstallSystemLayout.cmake @ONLY)
install(SCRIPT ${PROJECT_BINARY_DIR}/InstallSystemLayout.cmake)

set(MESHBROKER_DATA_DIR ${CMAKE_INSTALL_DATADIR}/meshbroker)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/templates/tinc ${PROJECT_SOURCE_DIR}/templates/openvpn
        DESTINATION ${MESHBROKER_DATA_DIR}/templates FILES_MATCHING PATTERN "*.mustache")
install(FILES ${PROJECT_SOURCE_DIR}/packaging/templates.README
        DESTINATION ${MESHBROKER_DATA_DIR}/templates RENAME README)

install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/seed/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        FILES_MATCHING PATTERN "*.json")
install(FILES ${PROJECT_SOURCE_DIR}/packaging/examples.README
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples RENAME README)

# What Debian wants next to the docs: a (native) changelog.gz, a manual page, and lintian
# overrides for the reference templates (tinc-up/down start with #! but are not scripts).
# No copyright file: the project has not stated its licence yet.
string(TIMESTAMP MESHBROKER_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(${PROJECT_SOURCE_DIR}/packaging/changelog.in ${PROJECT_BINARY_DIR}/packaging/changelog
               @ONLY)
find_program(MESHBROKER_GZIP gzip)
if(MESHBROKER_GZIP)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/changelog.gz
                     COMMAND ${MESHBROKER_GZIP} -9nf -k ${PROJECT_BINARY_DIR}/packaging/changelog
                     DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog VERBATIM)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/meshbroker.1.gz
                     COMMAND ${MESHBROKER_GZIP} -9n -c ${PROJECT_SOURCE_DIR}/packaging/meshbroker.1
                             > ${PROJECT_BINARY_DIR}/packaging/meshbroker.1.gz
                     DEPENDS ${PROJECT_SOURCE_DIR}/packaging/meshbroker.1)
  add_custom_target(meshbroker_package_docs ALL
                    DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.gz
                            ${PROJECT_BINARY_DIR}/packaging/meshbroker.1.gz)
  install(FILES ${PROJECT_BINARY_DIR}/packaging/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
  install(FILES ${PROJECT_BINARY_DIR}/packaging/meshbroker.1.gz
          DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/packaging/lintian-overrides
        DESTINATION ${CMAKE_INSTALL_DATADIR}/lintian/overrides RENAME meshbroker)

# CPack, DEB generator: meshbroker_<version>_<arch>.deb.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME meshbroker)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "meshbroker")
set(CPACK_PACKAGE_CONTACT "${MESHBROKER_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "mesh tunnel broker: tinc and OpenVPN supervisor with gateway failover")
set(CPACK_PACKAGE_DESCRIPTION
    "meshbroker turns one JSON config per node into everything tincd and OpenVPN
need, supervises them, health-checks the mesh gateways and fails traffic over
between them (or balances it) by rewriting kernel routes over netlink, without
NAT. It lets people who cannot reach a community Wi-Fi mesh by radio join it
over the Internet.")
# Install as if to /usr, into CPack's staging folder as DESTDIR: the install script above
# then sees the real prefix and puts the unit in /lib/systemd/system and the config folder in
# /etc.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MESHBROKER_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# What it runs (tincd, openvpn, ip in tinc-up; the unit's ExecReload= runs /bin/kill, which
# is procps's and not in a minimal Debian), plus the libraries dpkg-shlibdeps finds.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "tinc, openvpn, iproute2, procps, passwd, nftables")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/prerm;${PROJECT_SOURCE_DIR}/packaging/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
