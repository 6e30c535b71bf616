#ifndef MMGS_CEXPAT_SHIM_H
#define MMGS_CEXPAT_SHIM_H
#include <expat.h>
#endif
