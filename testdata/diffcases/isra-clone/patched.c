#include "kernel.h"

struct packet {
	int len;
	int proto;
	int csum;
	int pad[8];
};

static noinline int packet_weight(struct packet *p)
{
	return p->len * 5 + (p->proto & 15);
}

int total_weight(struct packet *a, struct packet *b)
{
	return packet_weight(a) + packet_weight(b);
}

int single_weight(struct packet *a)
{
	return packet_weight(a) - 1;
}
