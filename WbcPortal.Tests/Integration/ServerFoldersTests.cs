using WbcPortal.Options;
using WbcPortal.Services.Storage;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration;

/// <summary>Pages read server folders only under the configured root: never a full path, a climb out, or a link.</summary>
public sealed class ServerFoldersTests : IDisposable
{
    private readonly TempDirectory root = new("wbc-server-root");
    private readonly TempDirectory outside = new("wbc-outside");

    public void Dispose()
    {
        root.Dispose();
        outside.Dispose();
    }

    [Fact]
    public void Folders_under_the_root_resolve_and_list_with_their_images()
    {
        var cells = Directory.CreateDirectory(Path.Combine(root.Path, "cells", "EOSINOPHIL")).FullName;
        File.WriteAllBytes(Path.Combine(cells, "a.jpg"), [1]);
        File.WriteAllBytes(Path.Combine(cells, "b.png"), [1]);
        File.WriteAllText(Path.Combine(cells, "notes.txt"), "x");
        Directory.CreateDirectory(Path.Combine(root.Path, ".hidden"));
        var folders = new ServerFolders(new ServerFoldersOptions { Root = root.Path });

        Assert.True(folders.Enabled);
        Assert.Equal(cells, folders.Resolve("cells/EOSINOPHIL"));
        Assert.Equal(cells, folders.Resolve("cells/EOSINOPHIL/"));
        Assert.Equal(Path.GetFullPath(root.Path).TrimEnd('/'), folders.Resolve(""));
        var top = folders.List("");
        Assert.Equal(["cells"], top.Folders.Select(f => f.Name)); // hidden folders left out
        var inside = folders.List("cells");
        Assert.Equal(2, Assert.Single(inside.Folders).Images);
        Assert.Equal("cells/EOSINOPHIL", inside.Folders[0].Relative);
    }

    [Theory]
    [InlineData("../")]
    [InlineData("cells/../../etc")]
    [InlineData("/etc")]
    [InlineData("cells/./x")]
    [InlineData("no-such-folder")]
    public void Paths_that_leave_the_root_or_do_not_exist_are_refused(string path)
    {
        Directory.CreateDirectory(Path.Combine(root.Path, "cells"));
        var folders = new ServerFolders(new ServerFoldersOptions { Root = root.Path });
        Assert.Throws<ArgumentException>(() => folders.Resolve(path));
    }

    [Fact]
    public void A_link_inside_the_root_is_not_followed()
    {
        Directory.CreateSymbolicLink(Path.Combine(root.Path, "escape"), outside.Path);
        Directory.CreateDirectory(Path.Combine(outside.Path, "secret"));
        var folders = new ServerFolders(new ServerFoldersOptions { Root = root.Path });
        var refused = Assert.Throws<ArgumentException>(() => folders.Resolve("escape/secret"));
        Assert.Contains("link", refused.Message, StringComparison.Ordinal);
        Assert.Empty(folders.List("").Folders);
    }

    [Fact]
    public void Without_a_root_no_server_folder_is_read()
    {
        var folders = new ServerFolders(new ServerFoldersOptions());
        Assert.False(folders.Enabled);
        var refused = Assert.Throws<ArgumentException>(() => folders.Resolve(""));
        Assert.Contains("ServerFolders:Root", refused.Message, StringComparison.Ordinal);
    }
}
