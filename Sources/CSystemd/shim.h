#ifndef MMGS_CSYSTEMD_SHIM_H
#define MMGS_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
