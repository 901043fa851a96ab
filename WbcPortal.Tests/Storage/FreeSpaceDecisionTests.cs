using Microsoft.Extensions.Logging.Abstractions;
using WbcPortal.Options;
using WbcPortal.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Storage;

/// <summary>
/// The free-space rules behind a full disk's read-only start and the data folder's reserve (issue 24, item 4 D), without
/// a full disk: when a start is read-only, when a reserve may grow, and what the banner and the log say.
/// </summary>
public sealed class FreeSpaceDecisionTests
{
    private const long Mb = 1024 * 1024;

    [Theory]
    [InlineData(0, 16, true)]
    [InlineData(16 * Mb - 1, 16, true)]
    [InlineData(16 * Mb, 16, false)]
    [InlineData(5000 * Mb, 16, false)]
    [InlineData(0, 0, false)] // 0 turns the check off
    public void A_start_is_read_only_below_the_minimum_free_space(long free, int minFreeMegabytes, bool low) =>
        Assert.Equal(low, DataFolderSpace.IsLow(free, minFreeMegabytes * Mb));

    [Theory]
    [InlineData(100, 0, 32, 16, 32)]   // room: the whole reserve
    [InlineData(100, 20, 32, 16, 12)]  // a short one is made up
    [InlineData(48, 0, 32, 16, 32)]    // exactly the floor left after it
    [InlineData(47, 0, 32, 16, 0)]     // it would take free space below the floor: not made
    [InlineData(10, 0, 32, 16, 0)]     // a full disk: never
    [InlineData(100, 32, 32, 16, 0)]   // already there
    [InlineData(100, 40, 32, 16, 0)]   // longer than asked: nothing to add
    public void A_reserve_grows_only_where_it_leaves_the_floor_free(long freeMb, long reserveMb, long targetMb, long minFreeMb, long addMb) =>
        Assert.Equal(addMb * Mb, DataFolderSpace.ReserveToAdd(freeMb * Mb, reserveMb * Mb, targetMb * Mb, minFreeMb * Mb));

    [Fact]
    public void The_reason_names_the_free_space_and_the_way_out()
    {
        Assert.Equal("The data folder's disk is full (0.4 MB free): the portal started read-only. Free space (for example `WbcPortal storage --delete-dataset NAME`) and restart.",
            new DiskFullStart(400 * 1024).Message);
        Assert.Equal("0.0", DataFolderSpace.Megabytes(0));
        Assert.Equal("15", DataFolderSpace.Megabytes(15 * Mb + Mb / 2));
        Assert.Equal("1,234", DataFolderSpace.Megabytes(1234 * Mb));
    }

    [Fact]
    public void A_read_only_portal_refuses_with_the_disk_full_reason_and_otherwise_with_where_to_go()
    {
        var asked = new StorageOptions { ReadOnly = true };
        Assert.Null(asked.ReadOnlyReason);
        Assert.Equal("This portal is read-only: decisions are taken elsewhere.", asked.ReadOnlyRefusal("decisions are taken elsewhere"));
        var full = new StorageOptions { ReadOnly = true, DiskFull = new DiskFullStart(0) };
        Assert.Equal("The data folder's disk is full (0.0 MB free): the portal started read-only. Free space (for example WbcPortal storage --delete-dataset NAME) and restart.",
            full.ReadOnlyRefusal("decisions are taken elsewhere"));
    }

    [Fact]
    public void The_reserve_is_made_where_space_allows_and_released_only_when_the_disk_is_low()
    {
        using var folder = new TempDirectory("wbc-reserve");
        long free = DataFolderSpace.FreeBytesAt(folder.Path);
        // A floor just under what is free: 1 MB of reserve fits; then a floor above it: the reserve is not released.
        var options = new StorageOptions { DataDirectory = folder.Path, ReserveMegabytes = 1, MinFreeMegabytes = 1 };
        Assert.SkipUnless(free > 64 * Mb, $"needs 64 MB free in {folder.Path}");
        var space = new DataFolderSpace(options, NullLogger<DataFolderSpace>.Instance);
        Assert.Equal(Mb, space.EnsureReserve());
        Assert.Equal(Mb, space.ReserveBytes());
        Assert.Equal(0, space.EnsureReserve()); // already its size
        Assert.Equal(0, space.ReleaseReserveIfLow()); // the disk is not low
        Assert.Equal(Mb, space.ReserveBytes());

        // A floor above what is free: nothing more is made, and the reserve goes when asked to make room.
        options.MinFreeMegabytes = (int)(free / Mb) + 100;
        options.ReserveMegabytes = 2;
        Assert.Equal(0, space.EnsureReserve());
        Assert.Equal(Mb, space.ReleaseReserveIfLow());
        Assert.False(File.Exists(space.ReservePath));

        // A size of 0 removes it.
        options.MinFreeMegabytes = 1;
        options.ReserveMegabytes = 1;
        space.EnsureReserve();
        options.ReserveMegabytes = 0;
        space.EnsureReserve();
        Assert.False(File.Exists(space.ReservePath));
    }
}
