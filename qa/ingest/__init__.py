"""Reading articles in: file formats, cleaning, chunking, uploads, the Ray path; `read` turns files into Documents."""
