"""The remote job: HTTP to RunComfy, submit/poll/cancel, the journal, the job service."""
