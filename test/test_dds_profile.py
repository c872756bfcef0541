"""The DDS profile the executables load (config/fastdds.xml): when it is used, and what
it says. That it makes large best-effort camera frames arrive across processes is
measured in test_graph.py."""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from conftest import REPO
from pose_estimation_ros.nodes.common import dds_profile_path, use_dds_profile

NS = {'dds': 'http://www.eprosima.com'}


def _fast_dds(tmp_path, library: str | None) -> dict:
    """An environment whose library path holds ``library`` (a Fast DDS of that name)."""
    folder = tmp_path / 'lib'
    folder.mkdir(parents=True, exist_ok=True)
    if library:
        (folder / library).touch()
    return {'LD_LIBRARY_PATH': str(folder), 'AMENT_PREFIX_PATH': ''}


FASTDDS, FASTRTPS = 'FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE'


def test_profile_is_loaded_unless_the_user_names_one_or_another_rmw_runs(tmp_path):
    path = str(dds_profile_path())
    # Fast DDS 3 (Kilted) reads FASTDDS_ (and its rmw FASTRTPS_ too: one name only, or
    # the file is loaded twice); Fast DDS 2 (Humble, Jazzy) reads FASTRTPS_ only.
    for library, variables in (('libfastdds.so', {FASTDDS}), ('libfastrtps.so', {FASTRTPS}),
                               (None, {FASTDDS, FASTRTPS})):
        environ = _fast_dds(tmp_path / str(library), library)
        assert 'Fast DDS profile' in use_dds_profile(environ)
        assert {k: v for k, v in environ.items() if k.endswith('PROFILES_FILE')} == \
            dict.fromkeys(variables, path), library
    # The user's own profile wins, under either name; on Fast DDS 2 one given as FASTDDS_
    # is also set as FASTRTPS_, the only name that reads.
    for library, variable, expected in (
            ('libfastdds.so', FASTDDS, {FASTDDS}), ('libfastdds.so', FASTRTPS, {FASTRTPS}),
            ('libfastrtps.so', FASTRTPS, {FASTRTPS}),
            ('libfastrtps.so', FASTDDS, {FASTDDS, FASTRTPS})):
        environ = dict(_fast_dds(tmp_path / library, library), **{variable: '/robot/dds.xml'})
        assert '/robot/dds.xml' in use_dds_profile(environ)
        assert {k: v for k, v in environ.items() if k.endswith('PROFILES_FILE')} == \
            dict.fromkeys(expected, '/robot/dds.xml'), (library, variable)
    # Another RMW: nothing set.
    environ = {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}
    assert 'no Fast DDS profile' in use_dds_profile(environ)
    assert environ == {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}


def test_this_fast_dds_loads_the_profile_once(tmp_path):
    """On the ROS in use (the real libraries): the variable set is read, once (a second
    load logs XMLPARSER errors), and a node comes up."""
    import os
    import subprocess
    import sys
    environ = {k: v for k, v in os.environ.items() if not k.endswith('PROFILES_FILE')}
    script = ('from pose_estimation_ros.nodes.common import use_dds_profile; import os, rclpy;'
              'print(use_dds_profile()); rclpy.init(); n = rclpy.create_node("profile_probe");'
              'n.destroy_node(); rclpy.shutdown()')
    result = subprocess.run([sys.executable, '-c', script], env=environ, capture_output=True,
                            text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert 'Fast DDS profile' in output and 'XMLPARSER' not in output, output


def test_profile_makes_readers_announce_udp_and_gives_large_buffers():
    path = dds_profile_path()
    assert path.resolve() == (REPO / 'config' / 'fastdds.xml').resolve()
    root = ElementTree.parse(path).getroot()
    [participant] = root.findall('.//dds:participant', NS)
    assert participant.get('is_default_profile') == 'true'
    locators = participant.findall('.//dds:defaultUnicastLocatorList/dds:locator/*', NS)
    assert [e.tag.split('}')[1] for e in locators] == ['udpv4']
    transports = {t.findtext('dds:transport_id', namespaces=NS): t
                  for t in root.findall('.//dds:transport_descriptor', NS)}
    used = [e.text for e in participant.findall('.//dds:userTransports/dds:transport_id', NS)]
    assert set(used) == set(transports)
    kinds = {transports[t].findtext('dds:type', namespaces=NS): transports[t] for t in used}
    # Whole 1920x1080 bgr8 frames (6.2 MB) fit the receive buffer asked and the segment.
    assert int(kinds['UDPv4'].findtext('dds:receiveBufferSize', namespaces=NS)) >= 8 << 20
    assert int(kinds['SHM'].findtext('dds:segment_size', namespaces=NS)) >= 8 << 20
    assert participant.findtext('.//dds:useBuiltinTransports', namespaces=NS) == 'false'
