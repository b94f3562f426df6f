#include "textflag.h"

// func prefetchRecordTail(p uintptr)
TEXT ·prefetchRecordTail(SB), NOSPLIT|NOFRAME, $0-8
	MOVD	p+0(FP), R0
	PRFM	64(R0), PLDL1KEEP
	PRFM	128(R0), PLDL1KEEP
	RET
