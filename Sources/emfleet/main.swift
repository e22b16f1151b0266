import Numerics

// OpenBLAS chooses its kernels as it loads; fix a poor choice before anything runs.
BLASKernel.reexecuteWithBestKernelIfNeeded()
Emfleet.main()
