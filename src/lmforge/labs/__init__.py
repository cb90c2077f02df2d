"""The roadmap as runnable labs: each lab uses the library (never a second implementation) and reports
a measured result."""
