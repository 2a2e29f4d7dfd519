"""Results: downloading the files a job produced and turning them into ComfyUI values."""
