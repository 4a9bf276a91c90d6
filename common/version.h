/* The version every binary reports with --version. */
#ifndef MESH_VERSION_H
#define MESH_VERSION_H

#define MESH_VERSION "0.1.0"

#endif
