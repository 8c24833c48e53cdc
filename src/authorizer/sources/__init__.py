"""Everything that does I/O: blobs by URI (file, S3) and HTTP fetches. Nothing else in the
package opens a file or a socket on the request path."""
