"""The DDS profile the executables load (config/fastdds.xml): when it is used, and what
it says. That it makes large best-effort camera frames arrive across processes is
measured in test_graph.py."""
from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from conftest import REPO
from pose_estimation_ros.nodes.common import dds_profile_path, use_dds_profile

NS = {'dds': 'http://www.eprosima.com'}


def test_profile_is_loaded_unless_the_user_names_one_or_another_rmw_runs():
    environ = {}
    assert 'Fast DDS profile' in use_dds_profile(environ)
    assert environ == {'FASTDDS_DEFAULT_PROFILES_FILE': str(dds_profile_path())}
    # Humble's Fast DDS 2 reads the FASTRTPS_ name; only one is set (Fast DDS 3 reads
    # both and would load the file twice).
    environ = {'ROS_DISTRO': 'humble'}
    use_dds_profile(environ)
    assert set(environ) == {'ROS_DISTRO', 'FASTRTPS_DEFAULT_PROFILES_FILE'}
    # The user's own profile wins, under either name.
    for variable in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE'):
        environ = {variable: '/robot/dds.xml'}
        assert '/robot/dds.xml' in use_dds_profile(environ)
        assert environ == {variable: '/robot/dds.xml'}
    # Another RMW: nothing set.
    environ = {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}
    assert 'no Fast DDS profile' in use_dds_profile(environ)
    assert environ == {'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}


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
