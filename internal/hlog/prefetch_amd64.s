#include "textflag.h"

// func prefetchRecordTail(p uintptr)
TEXT ·prefetchRecordTail(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ	p+0(FP), AX
	PREFETCHT0	64(AX)
	PREFETCHT0	128(AX)
	RET
