using Microsoft.AspNetCore.Components.Forms;

namespace WbcPortal.Tests.Support;

/// <summary>Browser files for upload tests, without a browser: one whose bytes are all there, one that stalls part-way.</summary>
public static class TestBrowserFiles
{
    public static IBrowserFile Complete(string name, byte[] bytes) => new File(name, bytes.Length, _ => new MemoryStream(bytes, writable: false));

    /// <summary>
    /// A file of <paramref name="size"/> bytes whose stream gives <paramref name="sentBytes"/> and then waits for more until it
    /// is cancelled, as a browser that went away mid-upload. <see cref="Stalled.Sent"/> completes once the first bytes are read.
    /// </summary>
    public static Stalled Stalling(string name, long size, int sentBytes) => new(name, size, sentBytes);

    public sealed class Stalled(string name, long size, int sentBytes) : IBrowserFile
    {
        private readonly TaskCompletionSource sent = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the upload has read the bytes that were sent and is waiting for the rest.</summary>
        public Task Sent => sent.Task;

        public string Name => name;
        public DateTimeOffset LastModified => DateTimeOffset.UnixEpoch;
        public long Size => size;
        public string ContentType => "application/zip";

        public Stream OpenReadStream(long maxAllowedSize = 512000, CancellationToken cancellationToken = default) =>
            new StallingStream(sentBytes, sent, cancellationToken);
    }

    private sealed class File(string name, long size, Func<CancellationToken, Stream> open) : IBrowserFile
    {
        public string Name => name;
        public DateTimeOffset LastModified => DateTimeOffset.UnixEpoch;
        public long Size => size;
        public string ContentType => "application/octet-stream";
        public Stream OpenReadStream(long maxAllowedSize = 512000, CancellationToken cancellationToken = default) => open(cancellationToken);
    }

    private sealed class StallingStream(int sentBytes, TaskCompletionSource sent, CancellationToken opened) : Stream
    {
        private int left = sentBytes;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (left > 0)
            {
                int n = Math.Min(left, buffer.Length);
                buffer.Span[..n].Fill(0x5A);
                left -= n;
                return n;
            }
            sent.TrySetResult();
            using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, opened);
            await Task.Delay(Timeout.Infinite, both.Token);
            return 0;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("read it asynchronously, as a browser stream");
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
