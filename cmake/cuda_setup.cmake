# Decide whether to build unblur._cuda (UNBLUR_CUDA=AUTO|ON|OFF) and build it.
# Only architectures the user did not choose are filled in.

string(TOUPPER "${UNBLUR_CUDA}" _unblur_cuda)
if(NOT _unblur_cuda MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "UNBLUR_CUDA must be AUTO, ON or OFF, not '${UNBLUR_CUDA}'")
endif()

set(UNBLUR_HAVE_CUDA OFF)
if(NOT _unblur_cuda STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Turing..Hopper (CUDA 13 dropped Volta); PTX for the newest keeps
      # later cards working through the driver's JIT.
      set(CMAKE_CUDA_ARCHITECTURES 75-real 80-real 86-real 89-real 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(UNBLUR_HAVE_CUDA ON)
  elseif(_unblur_cuda STREQUAL "ON")
    message(FATAL_ERROR "UNBLUR_CUDA=ON but no CUDA compiler was found (set CUDACXX or put nvcc on PATH)")
  else()
    message(STATUS "unblur: no CUDA compiler found; building without unblur._cuda")
  endif()
endif()

if(UNBLUR_HAVE_CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  file(GLOB UNBLUR_CUDA_SOURCES CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/csrc/cuda/*.cu")
  add_library(unblur_cuda_engine STATIC ${UNBLUR_CUDA_SOURCES})
  target_include_directories(unblur_cuda_engine PUBLIC "${CMAKE_CURRENT_SOURCE_DIR}/csrc")
  # Static cudart: the module imports on machines without the toolkit's shared libraries.
  target_link_libraries(unblur_cuda_engine PUBLIC CUDA::cudart_static)
  target_compile_options(unblur_cuda_engine PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${UNBLUR_WERROR}>>:-Werror=all-warnings>)

  pybind11_add_module(_cuda "${CMAKE_CURRENT_SOURCE_DIR}/csrc/bindings/cuda_module.cpp")
  target_link_libraries(_cuda PRIVATE unblur_cuda_engine)
  target_compile_options(_cuda PRIVATE ${UNBLUR_WARNINGS})
  if(SKBUILD)
    install(TARGETS _cuda LIBRARY DESTINATION ${UNBLUR_MODULE_DESTINATION})
  else()
    set_target_properties(_cuda PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${UNBLUR_DEV_OUTPUT}")
  endif()
endif()
message(STATUS "unblur: CUDA module ${UNBLUR_HAVE_CUDA}")
