"""Product flows, one module each. A flow takes stage objects (anything with the Protocols' methods) and never
imports the apps; it may call `voices` and `avatar` functions."""
