# Locate FFTW3 (double and single precision, with the OpenMP-threaded libraries).
#
# Defines the imported targets FFTW3::fftw3, FFTW3::fftw3f, FFTW3::fftw3_omp and
# FFTW3::fftw3f_omp, and FFTW3_FOUND. The OpenMP flavour (rather than FFTW's pthreads
# one) makes FFTW's threads the same pool as unblur's own OpenMP loops: two pools on a
# small machine spin against each other. A missing piece stops configuration with one
# message that names the package to install on the common platforms.

find_path(FFTW3_INCLUDE_DIR fftw3.h HINTS ENV FFTW_ROOT PATH_SUFFIXES include)

set(_fftw3_components fftw3 fftw3f fftw3_omp fftw3f_omp)
set(_fftw3_missing "")
foreach(_lib IN LISTS _fftw3_components)
  # lib/<multiarch>: a Debian package unpacked under FFTW_ROOT (tools/device/check.sh).
  find_library(FFTW3_${_lib}_LIBRARY NAMES ${_lib} HINTS ENV FFTW_ROOT
               PATH_SUFFIXES lib lib64 "lib/${CMAKE_LIBRARY_ARCHITECTURE}")
  if(NOT FFTW3_${_lib}_LIBRARY)
    list(APPEND _fftw3_missing lib${_lib})
  endif()
endforeach()
if(NOT FFTW3_INCLUDE_DIR)
  list(APPEND _fftw3_missing fftw3.h)
endif()

if(_fftw3_missing)
  set(FFTW3_FOUND FALSE)
  string(REPLACE ";" ", " _fftw3_missing_text "${_fftw3_missing}")
  message(FATAL_ERROR
    "unblur needs FFTW3 (double and single precision, with OpenMP threads); not found: "
    "${_fftw3_missing_text}. Install it with: Debian/Ubuntu `apt-get install libfftw3-dev`, "
    "Homebrew `brew install fftw`, conda `conda install -c conda-forge fftw`; "
    "or point FFTW_ROOT at an FFTW installation.")
endif()

set(FFTW3_FOUND TRUE)
foreach(_lib IN LISTS _fftw3_components)
  if(NOT TARGET FFTW3::${_lib})
    add_library(FFTW3::${_lib} UNKNOWN IMPORTED)
    set_target_properties(FFTW3::${_lib} PROPERTIES
      IMPORTED_LOCATION "${FFTW3_${_lib}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${FFTW3_INCLUDE_DIR}")
  endif()
endforeach()
mark_as_advanced(FFTW3_INCLUDE_DIR)
