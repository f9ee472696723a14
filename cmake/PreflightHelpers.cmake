# preflight_library(NAME SOURCES ... DEPS ...): a static library preflight_NAME with the
# alias preflight::NAME, includes rooted at src/.
function(preflight_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(preflight_${name} STATIC ${ARG_SOURCES})
  add_library(preflight::${name} ALIAS preflight_${name})
  target_include_directories(preflight_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(preflight_${name} PUBLIC ${ARG_DEPS})
endfunction()

# preflight_test(NAME SOURCES ... DEPS ...): a GoogleTest binary registered with CTest.
function(preflight_test name)
  if(NOT PREFLIGHT_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE PREFLIGHT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${name} PROPERTIES ENVIRONMENT "PREFLIGHT_DATA=${PROJECT_SOURCE_DIR}/data"
                       DISCOVERY_TIMEOUT 60)
endfunction()
