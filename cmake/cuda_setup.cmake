# Decide whether to build unblur._cuda (UNBLUR_CUDA=AUTO|ON|OFF) and build it.
# Only architectures the user did not choose are filled in.

string(TOUPPER "${UNBLUR_CUDA}" _unblur_cuda)
if(NOT _unblur_cuda MATCHES "^(AUTO|ON|OFF)$")
  message(FATAL_ERROR "UNBLUR_CUDA must be AUTO, ON or OFF, not '${UNBLUR_CUDA}'")
endif()

# cuFFT: the toolkit's CUDA::cufft, else the NVIDIA wheel's (pip install nvidia-cufft
# for CUDA 13, nvidia-cufft-cu12 for CUDA 12), which ships only libcufft.so.<major> in
# site-packages/nvidia/cu<major>/lib (CUDA 12: nvidia/cufft/lib); UNBLUR_CUFFT_ROOT
# points elsewhere. Sets UNBLUR_CUFFT_TARGET, and UNBLUR_CUFFT_LIBDIR for the wheel.
function(unblur_find_cufft)
  set(UNBLUR_CUFFT_TARGET "" PARENT_SCOPE)
  set(UNBLUR_CUFFT_LIBDIR "" PARENT_SCOPE)
  if(TARGET CUDA::cufft)
    set(UNBLUR_CUFFT_TARGET CUDA::cufft PARENT_SCOPE)
    message(STATUS "unblur: cuFFT from the CUDA toolkit")
    return()
  endif()
  execute_process(COMMAND "${Python_EXECUTABLE}" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
                  OUTPUT_VARIABLE _site OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  set(_roots ${UNBLUR_CUFFT_ROOT} $ENV{UNBLUR_CUFFT_ROOT})
  if(_site)
    list(APPEND _roots "${_site}/nvidia/cu${CUDAToolkit_VERSION_MAJOR}" "${_site}/nvidia/cufft")
  endif()
  find_path(UNBLUR_CUFFT_INCLUDE_DIR cufft.h PATHS ${_roots} PATH_SUFFIXES include NO_DEFAULT_PATH)
  find_file(UNBLUR_CUFFT_LIBRARY NAMES libcufft.so libcufft.so.12 libcufft.so.11
            PATHS ${_roots} PATH_SUFFIXES lib NO_DEFAULT_PATH)
  if(NOT UNBLUR_CUFFT_INCLUDE_DIR OR NOT UNBLUR_CUFFT_LIBRARY)
    return()
  endif()
  add_library(unblur_cufft SHARED IMPORTED GLOBAL)
  set_target_properties(unblur_cufft PROPERTIES IMPORTED_LOCATION "${UNBLUR_CUFFT_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${UNBLUR_CUFFT_INCLUDE_DIR}")
  get_filename_component(_libdir "${UNBLUR_CUFFT_LIBRARY}" DIRECTORY)
  set(UNBLUR_CUFFT_TARGET unblur_cufft PARENT_SCOPE)
  set(UNBLUR_CUFFT_LIBDIR "${_libdir}" PARENT_SCOPE)
  message(STATUS "unblur: cuFFT from ${UNBLUR_CUFFT_LIBRARY}")
endfunction()

set(UNBLUR_HAVE_CUDA OFF)
if(NOT _unblur_cuda STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Ampere (A100) and Hopper (H100/H200) machine code, plus Hopper PTX so that
      # later cards run through the driver's JIT; set CMAKE_CUDA_ARCHITECTURES for others.
      set(CMAKE_CUDA_ARCHITECTURES 80-real 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    unblur_find_cufft()
    if(UNBLUR_CUFFT_TARGET)
      set(UNBLUR_HAVE_CUDA ON)
    elseif(_unblur_cuda STREQUAL "ON")
      message(FATAL_ERROR "UNBLUR_CUDA=ON but cuFFT was not found: install the CUDA toolkit's cuFFT, or "
                          "'pip install nvidia-cufft' (CUDA 13; nvidia-cufft-cu12 for CUDA 12) into the Python "
                          "that builds unblur, or set UNBLUR_CUFFT_ROOT")
    else()
      message(STATUS "unblur: nvcc found but no cuFFT; building without unblur._cuda")
    endif()
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
  target_link_libraries(unblur_cuda_engine PUBLIC CUDA::cudart_static ${UNBLUR_CUFFT_TARGET})
  # --extended-lambda: the single-source algorithms (csrc/gpu) pass __host__ __device__
  # lambdas to kernels; relaxed constexpr lets device code call constexpr std functions.
  target_compile_options(unblur_cuda_engine PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--extended-lambda --expt-relaxed-constexpr>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>
    $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${UNBLUR_WERROR}>>:-Werror=all-warnings>)

  pybind11_add_module(_cuda "${CMAKE_CURRENT_SOURCE_DIR}/csrc/bindings/cuda_module.cpp")
  target_link_libraries(_cuda PRIVATE unblur_cuda_engine)
  target_compile_options(_cuda PRIVATE ${UNBLUR_WARNINGS})
  if(UNBLUR_CUFFT_LIBDIR)
    # The wheel's libcufft.so.N: found where it was at build time, and next to an
    # installed unblur (site-packages/unblur -> site-packages/nvidia/...).
    execute_process(COMMAND "${Python_EXECUTABLE}" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"
                    OUTPUT_VARIABLE _site OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    set(_rpath "${UNBLUR_CUFFT_LIBDIR}")
    if(_site)
      file(RELATIVE_PATH _relative "${_site}/unblur" "${UNBLUR_CUFFT_LIBDIR}")
      list(PREPEND _rpath "$ORIGIN/${_relative}")
    endif()
    set_target_properties(_cuda PROPERTIES BUILD_RPATH "${_rpath}" INSTALL_RPATH "${_rpath}")
  endif()
  if(SKBUILD)
    install(TARGETS _cuda LIBRARY DESTINATION ${UNBLUR_MODULE_DESTINATION})
  else()
    set_target_properties(_cuda PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${UNBLUR_DEV_OUTPUT}")
  endif()
endif()
message(STATUS "unblur: CUDA module ${UNBLUR_HAVE_CUDA}")
