// Package test holds rskv's black-box integration tests: concurrency,
// regions of the hybrid log, RMW atomicity, data larger than memory,
// reopen and recovery, errors, and file-system faults. The crash,
// power-loss, corruption and fault-injection tests of the durability
// contract live beside them in package test_test; compaction and the
// background services have packages of their own under test/.
package test
