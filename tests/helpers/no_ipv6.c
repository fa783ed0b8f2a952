/*
 * no_ipv6.c
 *	  An LD_PRELOAD library that makes the process see a host without IPv6,
 *	  as a kernel booted with ipv6.disable=1 is: socket(AF_INET6, ...)
 *	  fails with EAFNOSUPPORT; every other socket is the real one.
 *
 *	  cc -shared -fPIC -o no_ipv6.so no_ipv6.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>

typedef int (*SocketFunction)(int domain, int type, int protocol);

int
socket(int domain, int type, int protocol)
{
	static SocketFunction real_socket;

	if (domain == AF_INET6)
	{
		errno = EAFNOSUPPORT;
		return -1;
	}
	if (real_socket == NULL)
		real_socket = (SocketFunction) dlsym(RTLD_NEXT, "socket");
	return real_socket(domain, type, protocol);
}
