using System.Globalization;
using WbcPortal.Options;
using WbcPortal.Services;

namespace WbcPortal.Storage;

/// <summary>Why a portal that was not asked to be read-only started read-only: its data folder's disk was full.</summary>
/// <param name="FreeBytes">Free space on the data folder's volume when the portal started.</param>
/// <param name="Failure">The write at start that failed for lack of space, in one line; null when the free space alone decided.</param>
public sealed record DiskFullStart(long FreeBytes, string? Failure = null)
{
    /// <summary>The verb the message points to (a user runs it on the server, beside the read-only portal).</summary>
    public const string FreeSpaceCommand = "WbcPortal storage --delete-dataset NAME";

    public string FreeMegabytes => DataFolderSpace.Megabytes(FreeBytes);

    /// <summary>The reason as the log and the banner say it (the command in backticks, which the banner shows as code).</summary>
    public string Message =>
        $"The data folder's disk is full ({FreeMegabytes} MB free): the portal started read-only. Free space (for example `{FreeSpaceCommand}`) and restart.";

    /// <summary>The reason in plain text, for a refusal on a page.</summary>
    public string Text => Message.Replace("`", "", StringComparison.Ordinal);
}

/// <summary>The data folder's disk is too full for the portal to start at all, not even read-only; the message says what to do.</summary>
public sealed class DataFolderFullException(string message) : IOException(message);

/// <summary>
/// Free space on the data folder's volume, and its reserve: <c>.wbcportal.reserve</c>, a file of
/// <see cref="StorageOptions.ReserveMegabytes"/> kept so that, once the disk is full, a deletion still has room for the
/// database's journal (the delete verbs release it first) and a reader has room for SQLite's shared-memory index.
/// The reserve is made only where space allows (it never takes free space below <see cref="StorageOptions.MinFreeMegabytes"/>),
/// and every failure here is logged, never thrown: it is a cushion, not data.
/// </summary>
public sealed class DataFolderSpace(StorageOptions storage, ILogger<DataFolderSpace> logger)
{
    public const string ReserveFileName = ".wbcportal.reserve";

    /// <summary>What a reader of a WAL database needs when its <c>-shm</c> index (32 KiB) is not there yet, with a margin.</summary>
    public const long ReadRoomBytes = 1024 * 1024;

    private const long Megabyte = 1024 * 1024;

    // SQLite grows a WAL's -shm index 32 KiB at a time; a shorter one is what a failed first attempt left.
    private const long ShmChunkBytes = 32 * 1024;

    public string ReservePath => Path.Combine(storage.DataDirectoryFullPath, ReserveFileName);

    /// <summary>Free space on the data folder's volume now (bytes an unprivileged writer may use).</summary>
    public long FreeBytes() => FreeBytesAt(storage.DataDirectoryFullPath);

    /// <summary>The reserve's size on disk now; 0 when there is none.</summary>
    public long ReserveBytes() => FileLength(ReservePath);

    /// <summary>A file's length, 0 when it is missing or cannot be read.</summary>
    public static long FileLength(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? info.Length : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>Free space where <paramref name="path"/> is or would be created (its nearest existing folder).</summary>
    public static long FreeBytesAt(string path)
    {
        string? dir = Path.GetFullPath(path);
        while (dir is not null && !Directory.Exists(dir)) dir = Path.GetDirectoryName(dir);
        return new DriveInfo(dir ?? Path.GetPathRoot(Environment.CurrentDirectory)!).AvailableFreeSpace;
    }

    /// <summary>The start-up decision: too little free space for a portal that writes (0 turns the check off).</summary>
    public static bool IsLow(long freeBytes, long minFreeBytes) => minFreeBytes > 0 && freeBytes < minFreeBytes;

    /// <summary>
    /// How many bytes to add to a reserve of <paramref name="reserveBytes"/> to reach <paramref name="targetBytes"/>: all that
    /// is missing when adding it still leaves <paramref name="minFreeBytes"/> free, else none (a reserve must not itself
    /// make the disk full).
    /// </summary>
    public static long ReserveToAdd(long freeBytes, long reserveBytes, long targetBytes, long minFreeBytes)
    {
        long missing = targetBytes - reserveBytes;
        if (missing <= 0) return 0;
        return freeBytes - missing >= minFreeBytes ? missing : 0;
    }

    /// <summary>"0.4" below 10 MB, "123" above: free space as the banner and the log say it.</summary>
    public static string Megabytes(long bytes)
    {
        double mb = Math.Max(0, bytes) / (double)Megabyte;
        return mb < 10 ? mb.ToString("0.0", CultureInfo.InvariantCulture) : Math.Floor(mb).ToString("N0", CultureInfo.InvariantCulture);
    }

    /// <summary>Makes the reserve its configured size when space allows (removes it when the size is 0). Returns the bytes added.</summary>
    public long EnsureReserve()
    {
        string path = ReservePath;
        long target = storage.ReserveBytes;
        long existing = ReserveBytes();
        try
        {
            if (target == 0)
            {
                if (existing > 0 || File.Exists(path)) File.Delete(path);
                return 0;
            }
            if (existing > target)
            {
                using var shrink = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None);
                shrink.SetLength(target);
                return 0;
            }
            long add = ReserveToAdd(FreeBytes(), existing, target, storage.MinFreeBytes);
            if (add == 0)
            {
                if (existing < target)
                    logger.LogInformation("The data folder's reserve ({Reserve} MB of {Target} MB) is not made up: {Free} MB free would fall below Storage:MinFreeMegabytes ({Min} MB)",
                        Megabytes(existing), Megabytes(target), Megabytes(FreeBytes()), storage.MinFreeMegabytes);
                return 0;
            }
            Append(path, existing, add);
            return add;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("The data folder's reserve {Path} could not be made: {Reason}", path, UserFacingError.Describe(ex));
            return 0;
        }
    }

    /// <summary>Deletes the reserve when free space is below <see cref="StorageOptions.MinFreeMegabytes"/>, so a deletion has room; returns the bytes freed.</summary>
    public long ReleaseReserveIfLow()
    {
        if (!IsLow(FreeBytes(), storage.MinFreeBytes) && FreeBytes() >= ReadRoomBytes) return 0;
        long bytes = ReserveBytes();
        if (bytes == 0) return 0;
        try
        {
            File.Delete(ReservePath);
            logger.LogWarning("The disk is full: released the data folder's reserve ({Reserve} MB) so the deletion has room", Megabytes(bytes));
            return bytes;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("The data folder's reserve {Path} could not be released: {Reason}", ReservePath, UserFacingError.Describe(ex));
            return 0;
        }
    }

    /// <summary>
    /// Gives a reader room for SQLite's shared-memory index when the disk has none: takes <see cref="ReadRoomBytes"/> off
    /// the reserve. Returns the bytes taken (made up again by the next <see cref="EnsureReserve"/> once space allows).
    /// </summary>
    public long BorrowRoomToRead()
    {
        long reserve = ReserveBytes();
        // A database whose index is there already (a process has it open) needs no more room to be read.
        if (reserve == 0 || FileLength(storage.DatabasePath + "-shm") >= ShmChunkBytes || FreeBytes() >= ReadRoomBytes) return 0;
        try
        {
            long take = Math.Min(reserve, ReadRoomBytes);
            using var stream = new FileStream(ReservePath, FileMode.Open, FileAccess.Write, FileShare.None);
            stream.SetLength(reserve - take);
            logger.LogWarning("The disk is full: took {Bytes} MB off the data folder's reserve so the database can be read", Megabytes(take));
            return take;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("The data folder's reserve {Path} could not be shortened: {Reason}", ReservePath, UserFacingError.Describe(ex));
            return 0;
        }
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> of filler after the first <paramref name="from"/> bytes, really allocated (not a
    /// sparse length; not zeros, which a compressing file system would not store); on a failure the file is cut back.
    /// </summary>
    private static void Append(string path, long from, long bytes)
    {
        using var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.None);
        try
        {
            stream.SetLength(from);
            stream.Position = from;
            var random = new Random(unchecked((int)from));
            var chunk = new byte[(int)Math.Min(Megabyte, bytes)];
            for (long left = bytes; left > 0; left -= chunk.Length)
            {
                random.NextBytes(chunk);
                stream.Write(chunk, 0, (int)Math.Min(chunk.Length, left));
            }
            stream.Flush(flushToDisk: true);
        }
        catch
        {
            try
            {
                stream.SetLength(from);
            }
            catch (IOException)
            {
                // The write's own failure is the one to report.
            }
            throw;
        }
    }
}
